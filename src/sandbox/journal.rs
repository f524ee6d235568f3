//! The tape: every value the host hands one guest instance, recorded while the
//! instance runs live and answered back, in order, while a fresh instance replays a
//! session's journal (issue 13: transactional cells).
//!
//! A guest sees the outside world only through its imports: the WIT interfaces
//! (tools, skills, artifacts, deps), the WASI clocks and the WASI random source.
//! Every WIT import goes through [`Tape::call`], the clocks through
//! [`JournaledWallClock`] and [`JournaledMonotonicClock`], randomness through
//! [`JournaledRng`]; so a replay that makes the same calls in the same order sees
//! the same values, runs no tool twice and repeats no write. A call that differs
//! from the recorded one is a divergence: the tape completes [`Tape::diverged`], which stops the replaying run, and the caller reports the state lost.
//!
//! Random bytes are not stored: each session has a seed, and both the live and the
//! replaying instance draw from a generator seeded with it; the tape records only
//! how many bytes each read took, to check the replay asks for the same. Each
//! stream's key is derived from the seed by a hash with its own label, so no
//! stream (nor the insecure seed the guest can read) reveals another. When a
//! replayed instance goes live, fresh entropy is mixed into both streams and
//! journaled ([`Event::Mix`]): what a failed cell drew is never drawn again, and a
//! later replay still reproduces the streams exactly.
//!
//! What the tape does not see (documented limits of replay): files under the
//! read-only mounts (a package added later by `deps.add` changes what an `import`
//! finds), and the readiness of pollables (a cell whose control flow depends on
//! how long a real sleep took may diverge, which is detected and reported).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use rand::{Rng as _, SeedableRng as _, TryRng};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

use tokio::sync::Notify;

/// One value the host handed the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Event {
    /// A WIT import: its `interface.function`, a digest of its arguments, and its
    /// result (postcard-encoded).
    Call {
        /// `interface.function`, e.g. `tools.call-tool`.
        call: String,
        /// SHA-256 of the postcard-encoded arguments, first 16 bytes.
        args: [u8; 16],
        /// The postcard-encoded result; shared, so a replay's copy of a segment
        /// (or a fork's copy of the journal) does not copy what a call returned.
        #[serde(with = "shared_bytes")]
        result: Arc<[u8]>,
    },
    /// `wasi:clocks/wall-clock.now`, since the Unix epoch.
    Wall {
        /// Whole seconds.
        secs: u64,
        /// Nanoseconds past them.
        nanos: u32,
    },
    /// `wasi:clocks/monotonic-clock.now`, in nanoseconds.
    Monotonic(u64),
    /// Reads of the random source, secure or not: how many bytes each took. Equal
    /// reads in a row are one event (the guest's `getentropy` reads 256 bytes at a
    /// time, so one `os.urandom(4096)` is sixteen of them).
    Random {
        /// The insecure source (`wasi:random/insecure`) rather than the secure one.
        insecure: bool,
        /// Bytes each read took.
        len: u64,
        /// How many reads in a row.
        times: u64,
    },
    /// Fresh entropy mixed into both random streams at their next read: journaled
    /// when a replayed instance goes live, so a replay of what follows draws the
    /// same bytes as the live run did. Always first in its segment.
    Mix {
        /// The entropy, from the host's generator.
        entropy: [u8; 32],
    },
}

/// `Arc<[u8]>` encoded as a `Vec<u8>` is (the stored format predates the sharing).
mod shared_bytes {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &Arc<[u8]>, serializer: S) -> Result<S::Ok, S::Error> {
        bytes.as_ref().serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Arc<[u8]>, D::Error> {
        Vec::<u8>::deserialize(deserializer).map(Arc::from)
    }
}

/// Bytes one event takes in a vector of events, whatever its variant.
const SLOT: usize = std::mem::size_of::<Event>();

/// Bytes an `Arc<[u8]>` adds to its data (its two counts).
const ARC_HEADER: usize = 2 * std::mem::size_of::<usize>();

impl Event {
    /// Bytes the event holds in memory, for the journal's cap: its slot in a
    /// vector of events and what it owns on the heap.
    pub(crate) fn size(&self) -> usize {
        SLOT + self.heap()
    }

    /// What the event owns outside its slot.
    fn heap(&self) -> usize {
        match self {
            Event::Call { call, result, .. } => call.capacity() + ARC_HEADER + result.len(),
            _ => 0,
        }
    }
}

/// How many slots a push onto `items` allocates: none while it has room, else as
/// many as it holds (at least 4; see [`push_counted`]).
pub(crate) fn slots_to_grow<T>(items: &Vec<T>) -> usize {
    if items.len() < items.capacity() { 0 } else { items.capacity().max(4) }
}

/// Pushes `item` onto `items`, growing it by exactly [`slots_to_grow`] slots, so
/// what a caller counted is what is allocated (a vector's own growth is not
/// specified).
pub(crate) fn push_counted<T>(items: &mut Vec<T>, item: T) {
    let grow = slots_to_grow(items);
    if grow > 0 {
        items.reserve_exact(grow);
    }
    items.push(item);
}

/// What a session's instances share so that a replay reproduces the live run's
/// random bytes (the monotonic clock's origin is kept beside it, as an `Instant`
/// only means something in this process).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Seeds {
    /// The random source's seed, drawn from the host's generator per session.
    pub(crate) random: [u8; 32],
}

impl Seeds {
    /// Fresh seeds from the host's generator.
    pub(crate) fn new() -> Self {
        let mut random = [0; 32];
        rand::rng().fill_bytes(&mut random);
        Self { random }
    }
}

/// Whether the tape records, replays or does neither.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Pass-through: nothing is recorded (journaling disabled, the skill inspector).
    Off,
    /// Live: host calls run and their results are recorded, up to `budget` bytes.
    Record,
    /// Answered from `queue`, in order; host calls do not run.
    Replay,
}

#[derive(Debug)]
struct State {
    mode: Mode,
    /// The events recorded since the last [`Tape::take`].
    recorded: Vec<Event>,
    /// Bytes `recorded` may still grow by before recording stops.
    budget: usize,
    /// Why recording stopped (the budget ran out, a result could not be encoded).
    overflow: Option<String>,
    /// The events a replay still has to answer with.
    queue: VecDeque<Event>,
    /// Why the replay diverged from the journal.
    diverged: Option<String>,
    /// The last monotonic reading the guest saw: live readings never go back below
    /// a replayed one.
    last_monotonic: u64,
    /// The entropy mixed into the random streams so far, in order; each stream
    /// applies the ones it has not at its next read.
    mixes: Vec<[u8; 32]>,
}

/// One instance's recorder/replayer; cheap to clone (every clone is the same tape).
#[derive(Debug, Clone)]
pub(crate) struct Tape {
    state: Arc<Mutex<State>>,
    seeds: Arc<Seeds>,
    /// Where live monotonic readings count from: shared by the session's instances so
    /// the clock never goes back when an instance is replaced.
    origin: Instant,
    divergence: Arc<Notify>,
}

impl Tape {
    fn new(mode: Mode, seeds: Arc<Seeds>, origin: Instant, budget: usize) -> Self {
        let state = State {
            mode,
            recorded: Vec::new(),
            budget,
            overflow: None,
            queue: VecDeque::new(),
            diverged: None,
            last_monotonic: 0,
            mixes: Vec::new(),
        };
        Self { state: Arc::new(Mutex::new(state)), seeds, origin, divergence: Arc::new(Notify::new()) }
    }

    /// A tape that records nothing.
    pub(crate) fn off() -> Self {
        Self::new(Mode::Off, Arc::new(Seeds::new()), Instant::now(), 0)
    }

    /// A live tape that records up to `budget` bytes of events.
    pub(crate) fn record(seeds: Arc<Seeds>, origin: Instant, budget: usize) -> Self {
        Self::new(Mode::Record, seeds, origin, budget)
    }

    /// A tape that answers from the events given by [`Tape::load`].
    pub(crate) fn replay(seeds: Arc<Seeds>, origin: Instant) -> Self {
        Self::new(Mode::Replay, seeds, origin, 0)
    }

    /// The mode now (read under the lock, which is never held across an await).
    fn mode(&self) -> Mode {
        self.lock().mode
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Completes when a replay diverges from the journal: the replaying run is
    /// stopped with it.
    pub(crate) async fn diverged(&self) {
        loop {
            let notified = self.divergence.notified();
            tokio::pin!(notified);
            // Registered before the flag is read, so a divergence between the two is not lost.
            notified.as_mut().enable();
            if self.lock().diverged.is_some() {
                return;
            }
            notified.await;
        }
    }

    /// The events recorded since the last call, and why recording stopped, if it did
    /// (then the events are incomplete and must not be journaled). Their vector has
    /// no spare room: each event's [`Event::size`] is what it holds.
    pub(crate) fn take(&self) -> Result<Vec<Event>, String> {
        let mut state = self.lock();
        let mut events = std::mem::take(&mut state.recorded);
        events.shrink_to_fit();
        match &state.overflow {
            Some(why) => Err(why.clone()),
            None => Ok(events),
        }
    }

    /// Sets how many more bytes a live tape may record.
    pub(crate) fn set_budget(&self, budget: usize) {
        self.lock().budget = budget;
    }

    /// Queues the events of the next replayed segment (the start-up, then one cell);
    /// the entropy mixed at its start is mixed now, as it was live.
    pub(crate) fn load(&self, events: &[Event]) {
        let mut state = self.lock();
        let mut queue: VecDeque<Event> = events.iter().cloned().collect();
        while let Some(Event::Mix { entropy }) = queue.front() {
            state.mixes.push(*entropy);
            queue.pop_front();
        }
        state.queue = queue;
    }

    /// Ends a replayed segment: why it diverged, if it did (including a segment that
    /// made fewer calls than the journal holds).
    pub(crate) fn finish_segment(&self) -> Result<(), String> {
        let mut state = self.lock();
        if let Some(why) = &state.diverged {
            return Err(why.clone());
        }
        match state.queue.pop_front() {
            None => Ok(()),
            Some(event) => {
                let why =
                    format!("the replay made fewer host calls than the journal holds (next: {})", describe(&event));
                state.diverged = Some(why.clone());
                Err(why)
            }
        }
    }

    /// Ends the replay: from now on the instance runs live and records. Fresh
    /// entropy is mixed into the random streams (and journaled first in what is
    /// recorded next), so the bytes a failed cell drew are not drawn again, and a
    /// fork draws other bytes than its original.
    pub(crate) fn go_live(&self, budget: usize) {
        let mut entropy = [0; 32];
        rand::rng().fill_bytes(&mut entropy);
        let mut state = self.lock();
        state.mode = Mode::Record;
        state.queue.clear();
        state.budget = budget;
        state.mixes.push(entropy);
        // Outside the budget: 32 bytes, and without it the next cell could not be
        // replayed at all; the journal counts it when the cell is committed.
        if state.overflow.is_none() {
            state.recorded.push(Event::Mix { entropy });
        }
    }

    /// Runs a WIT import through the tape: live, `run` answers and its result is
    /// recorded; replaying, the journaled result answers and `run` is never polled.
    /// A divergence completes [`Tape::diverged`] and never completes itself (the replaying run
    /// is dropped by that signal).
    pub(crate) async fn call<A, T, F>(&self, call: &'static str, args: &A, run: F) -> T
    where
        A: Serialize + ?Sized,
        T: Serialize + DeserializeOwned,
        F: Future<Output = T>,
    {
        self.call_keyed(self.key(call, args), run).await
    }

    /// The identity of a call, computed before the call's future takes its arguments.
    pub(crate) fn key<A: Serialize + ?Sized>(&self, call: &'static str, args: &A) -> CallKey {
        let digest = match self.mode() {
            // Nothing is compared: skip hashing.
            Mode::Off => [0; 16],
            Mode::Record | Mode::Replay => digest(args),
        };
        CallKey { call, digest }
    }

    /// [`Tape::call`] with its key computed already.
    pub(crate) async fn call_keyed<T, F>(&self, key: CallKey, run: F) -> T
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = T>,
    {
        let CallKey { call, digest } = key;
        let mode = self.mode();
        let replaying = match mode {
            Mode::Off => return run.await,
            Mode::Record => false,
            Mode::Replay => true,
        };
        if replaying {
            let answer = {
                let mut state = self.lock();
                match state.queue.pop_front() {
                    Some(Event::Call { call: c, args: a, result }) if c == call && a == digest => {
                        postcard::from_bytes::<T>(&result)
                            .map_err(|err| format!("the journaled result of {call} cannot be read: {err}"))
                    }
                    Some(other) => {
                        Err(format!("the replay called {call} where the journal holds {}", describe(&other)))
                    }
                    None => Err(format!("the replay called {call} past the end of the journal")),
                }
            };
            return match answer {
                Ok(value) => value,
                Err(why) => self.diverge(why).await,
            };
        }
        let value = run.await;
        match postcard::to_allocvec(&value) {
            Ok(result) => self.push(Event::Call { call: call.to_owned(), args: digest, result: result.into() }),
            Err(err) => self.stop_recording(format!("the result of {call} cannot be journaled: {err}")),
        }
        value
    }

    async fn diverge<T>(&self, why: String) -> T {
        tracing::info!(why, "replay diverged from the journal");
        {
            let mut state = self.lock();
            state.diverged.get_or_insert(why);
        }
        self.divergence.notify_waiters();
        std::future::pending().await
    }

    /// A synchronous reading (clock, random): live, `live` answers and `record` makes
    /// its event; replaying, `replayed` picks the answer out of the next event.
    fn reading<T>(
        &self,
        what: &str,
        live: impl FnOnce(&mut State) -> T,
        record: impl FnOnce(&T) -> Event,
        replayed: impl FnOnce(&Event) -> Option<T>,
    ) -> T {
        let mut state = self.lock();
        match state.mode {
            Mode::Off => live(&mut state),
            Mode::Record => {
                let value = live(&mut state);
                let event = record(&value);
                push(&mut state, event);
                value
            }
            Mode::Replay => {
                if state.diverged.is_none() {
                    let next = state.queue.pop_front();
                    if let Some(value) = next.as_ref().and_then(replayed) {
                        return value;
                    }
                    let held = next.as_ref().map_or_else(|| "its end".to_owned(), describe);
                    state.diverged = Some(format!("the replay read {what} where the journal holds {held}"));
                    self.divergence.notify_waiters();
                }
                // The run is being stopped: any value will do until it is.
                live(&mut state)
            }
        }
    }

    fn push(&self, event: Event) {
        push(&mut self.lock(), event);
    }

    fn stop_recording(&self, why: String) {
        let mut state = self.lock();
        stop_recording(&mut state, why);
    }
}

/// Records `event` if the budget has room for what it holds and for the slots the
/// recording grows by: what a tape charges is what its events take in memory (the
/// journal's cap is one on memory, and events are small: a vector's spare room
/// alone could double them).
fn push(state: &mut State, event: Event) {
    if state.overflow.is_some() {
        return;
    }
    let size = event.heap() + slots_to_grow(&state.recorded) * SLOT;
    if size > state.budget {
        stop_recording(state, "the session's journal reached its size limit".to_owned());
        return;
    }
    state.budget -= size;
    push_counted(&mut state.recorded, event);
}

fn stop_recording(state: &mut State, why: String) {
    tracing::info!(why, "the session journal stops recording");
    state.overflow.get_or_insert(why);
    // What was recorded is useless now: free it.
    state.recorded = Vec::new();
}

/// Which import was called, with a digest of its arguments.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallKey {
    call: &'static str,
    digest: [u8; 16],
}

fn digest<A: Serialize + ?Sized>(args: &A) -> [u8; 16] {
    let mut hasher = Sha256::new();
    // Streamed into the hash, never copied (an artifact's data can be 64 MiB).
    // Encoding plain WIT values cannot fail; if it did, calls would be told apart by
    // what was hashed before the failure and by name.
    let _ = postcard::to_io(args, &mut hasher);
    let full = hasher.finalize();
    let mut out = [0; 16];
    out.copy_from_slice(&full[..16]);
    out
}

fn describe(event: &Event) -> String {
    match event {
        Event::Call { call, .. } => format!("a call of {call}"),
        Event::Wall { .. } => "a wall-clock reading".to_owned(),
        Event::Monotonic(_) => "a monotonic-clock reading".to_owned(),
        Event::Random { .. } => "a random read".to_owned(),
        Event::Mix { .. } => "an entropy mix".to_owned(),
    }
}

/// `wasi:clocks/wall-clock` through the tape.
pub(crate) struct JournaledWallClock(pub(crate) Tape);

impl HostWallClock for JournaledWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.0.reading(
            "the wall clock",
            |_| SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default(),
            |now| Event::Wall { secs: now.as_secs(), nanos: now.subsec_nanos() },
            |event| match event {
                Event::Wall { secs, nanos } => Some(Duration::new(*secs, *nanos)),
                _ => None,
            },
        )
    }
}

/// `wasi:clocks/monotonic-clock` through the tape, counting from the session's origin.
pub(crate) struct JournaledMonotonicClock(pub(crate) Tape);

impl HostMonotonicClock for JournaledMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        let origin = self.0.origin;
        let now = self.0.reading(
            "the monotonic clock",
            |state| {
                let elapsed = u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
                elapsed.max(state.last_monotonic)
            },
            |now| Event::Monotonic(*now),
            |event| match event {
                Event::Monotonic(now) => Some(*now),
                _ => None,
            },
        );
        let mut state = self.0.lock();
        state.last_monotonic = state.last_monotonic.max(now);
        now
    }
}

/// The guest's random source: a generator seeded from the session's seed, each read
/// checked against the tape (the bytes themselves are reproduced by the seed).
pub(crate) struct JournaledRng {
    tape: Tape,
    insecure: bool,
    rng: rand::rngs::StdRng,
    /// How many of the tape's entropy mixes this stream has applied.
    mixed: usize,
}

/// The hash label of the secure stream's key.
const SECURE_STREAM: &str = "codemode secure random stream";
/// The hash label of the insecure stream's key.
const INSECURE_STREAM: &str = "codemode insecure random stream";
/// The hash label of `wasi:random/insecure-seed`.
const INSECURE_SEED: &str = "codemode insecure seed";

/// SHA-256 of `label`, a zero byte and `parts`: one key per use of one secret,
/// none revealing the secret or another key.
fn derive(label: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(label.as_bytes());
    hasher.update([0]);
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

impl JournaledRng {
    /// The secure (`insecure == false`) or insecure source of `tape`'s session; the
    /// two are distinct streams of the one seed.
    pub(crate) fn new(tape: Tape, insecure: bool) -> Self {
        let seed = derive(Self::label(insecure), &[&tape.seeds.random]);
        Self { tape, insecure, rng: rand::rngs::StdRng::from_seed(seed), mixed: 0 }
    }

    fn label(insecure: bool) -> &'static str {
        if insecure { INSECURE_STREAM } else { SECURE_STREAM }
    }

    /// `wasi:random/insecure-seed`: fixed per session, so a replay sees the same.
    pub(crate) fn insecure_seed(tape: &Tape) -> u128 {
        let key = derive(INSECURE_SEED, &[&tape.seeds.random]);
        let mut bytes = [0; 16];
        bytes.copy_from_slice(&key[..16]);
        u128::from_le_bytes(bytes)
    }

    /// Checks a read of `len` bytes against the tape, after applying the entropy
    /// mixed since the last read.
    fn note(&mut self, len: usize) {
        let insecure = self.insecure;
        let len = len as u64;
        let mut state = self.tape.lock();
        // A new key from the stream's next bytes and the entropy: as unpredictable
        // as the entropy, and the same in a replay (same stream, same entropy).
        while let Some(entropy) = state.mixes.get(self.mixed) {
            let mut current = [0; 32];
            self.rng.fill_bytes(&mut current);
            self.rng = rand::rngs::StdRng::from_seed(derive(Self::label(insecure), &[&current, entropy]));
            self.mixed += 1;
        }
        match state.mode {
            Mode::Off => {}
            Mode::Record => match state.recorded.last_mut() {
                Some(Event::Random { insecure: i, len: l, times }) if *i == insecure && *l == len => *times += 1,
                _ => push(&mut state, Event::Random { insecure, len, times: 1 }),
            },
            Mode::Replay => {
                if state.diverged.is_some() {
                    return;
                }
                match state.queue.front_mut() {
                    Some(Event::Random { insecure: i, len: l, times }) if *i == insecure && *l == len => {
                        if *times > 1 {
                            *times -= 1;
                        } else {
                            state.queue.pop_front();
                        }
                    }
                    next => {
                        let held = next.map_or_else(|| "its end".to_owned(), |e| describe(e));
                        state.diverged =
                            Some(format!("the replay read the random source where the journal holds {held}"));
                        self.tape.divergence.notify_waiters();
                    }
                }
            }
        }
    }
}

impl TryRng for JournaledRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        self.note(4);
        Ok(self.rng.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.note(8);
        Ok(self.rng.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.note(dst.len());
        self.rng.fill_bytes(dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_replay_answers_from_the_journal_and_never_runs_the_call() {
        let seeds = Arc::new(Seeds::new());
        let origin = Instant::now();
        let live = Tape::record(seeds.clone(), origin, 1 << 20);
        let answer: Result<String, String> = live.call("t.f", &("a", 1), async { Ok("live".to_owned()) }).await;
        let wall = JournaledWallClock(live.clone()).now();
        let mut rng = JournaledRng::new(live.clone(), false);
        let drawn = rng.next_u64();
        let events = live.take().unwrap();
        assert_eq!(events.len(), 3);

        let replay = Tape::replay(seeds, origin);
        replay.load(&events);
        let replayed: Result<String, String> =
            replay.call("t.f", &("a", 1), async { panic!("a replayed call must not run") }).await;
        assert_eq!(replayed, answer);
        assert_eq!(JournaledWallClock(replay.clone()).now(), wall);
        assert_eq!(JournaledRng::new(replay.clone(), false).next_u64(), drawn);
        replay.finish_segment().unwrap();
    }

    #[tokio::test]
    async fn other_arguments_are_a_divergence() {
        let seeds = Arc::new(Seeds::new());
        let live = Tape::record(seeds.clone(), Instant::now(), 1 << 20);
        let _: u32 = live.call("t.f", &1u32, async { 7 }).await;
        let replay = Tape::replay(seeds, Instant::now());
        replay.load(&live.take().unwrap());
        let diverged = tokio::time::timeout(Duration::from_millis(50), replay.call("t.f", &2u32, async { 7u32 })).await;
        assert!(diverged.is_err(), "a divergence never answers");
        tokio::time::timeout(Duration::from_millis(50), replay.diverged()).await.unwrap();
        assert!(replay.finish_segment().unwrap_err().contains("t.f"));
    }

    #[test]
    fn each_stream_has_its_own_key_and_none_reveals_another() {
        let seeds = Arc::new(Seeds { random: [7; 32] });
        let tape = Tape::record(seeds.clone(), Instant::now(), 1 << 20);
        let insecure_seed = JournaledRng::insecure_seed(&tape).to_le_bytes();
        let secure_key = derive(SECURE_STREAM, &[&seeds.random]);
        let insecure_key = derive(INSECURE_STREAM, &[&seeds.random]);
        assert_ne!(secure_key, insecure_key);
        for key in [&seeds.random, &secure_key, &insecure_key] {
            assert!(
                !key.windows(4).any(|w| insecure_seed.windows(4).any(|s| s == w)),
                "the insecure seed shares bytes"
            );
        }
        let mut secure = JournaledRng::new(tape.clone(), false);
        let mut insecure = JournaledRng::new(tape, true);
        let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
        secure.fill_bytes(&mut a);
        insecure.fill_bytes(&mut b);
        assert_ne!(a, b, "the two streams differ");
        // The streams are keyed by the hash, not by the seed itself.
        let mut raw = rand::rngs::StdRng::from_seed(seeds.random);
        let mut c = [0u8; 64];
        raw.fill_bytes(&mut c);
        assert_ne!(a, c);
    }

    #[test]
    fn going_live_mixes_fresh_entropy_and_a_replay_reproduces_it() {
        let seeds = Arc::new(Seeds::new());
        let origin = Instant::now();
        // A replayed instance (nothing to replay) goes live and draws.
        let draw_after_going_live = |tape: &Tape| {
            tape.go_live(1 << 20);
            let mut rng = JournaledRng::new(tape.clone(), false);
            let drawn = rng.next_u64();
            (drawn, tape.take().unwrap())
        };
        let unmixed = JournaledRng::new(Tape::record(seeds.clone(), origin, 1 << 20), false).next_u64();
        let (first, events) = draw_after_going_live(&Tape::replay(seeds.clone(), origin));
        let (second, _) = draw_after_going_live(&Tape::replay(seeds.clone(), origin));
        assert!(matches!(events[0], Event::Mix { .. }), "the mix is journaled first: {events:?}");
        assert!(first != unmixed && second != unmixed && first != second, "each go-live draws anew");
        let replay = Tape::replay(seeds, origin);
        replay.load(&events);
        assert_eq!(JournaledRng::new(replay.clone(), false).next_u64(), first, "a replay draws what was drawn live");
        replay.finish_segment().unwrap();
    }

    /// What a tape charges its budget covers what its events take in memory,
    /// small events and the vector's spare room included: a cell of a million
    /// clock readings stops recording at the cap, not at twice or four times it.
    #[test]
    fn a_tape_charges_what_its_events_take_in_memory() {
        let budget = 1 << 20;
        let live = Tape::record(Arc::new(Seeds::new()), Instant::now(), budget);
        let clock = JournaledMonotonicClock(live.clone());
        for _ in 0..1_000_000 {
            clock.now();
        }
        let held = {
            let state = live.lock();
            assert!(state.overflow.is_some(), "a million readings do not fit in 1 MiB");
            state.recorded.capacity() * SLOT
        };
        assert_eq!(held, 0, "what was recorded is freed");
        let live = Tape::record(Arc::new(Seeds::new()), Instant::now(), budget);
        let clock = JournaledMonotonicClock(live.clone());
        for _ in 0..5_000 {
            clock.now();
        }
        let charged = budget - live.lock().budget;
        let held = live.lock().recorded.capacity() * SLOT;
        assert_eq!(charged, held, "the spare room is charged");
        let events = live.take().unwrap();
        assert_eq!(events.len(), 5_000);
        assert_eq!(events.capacity(), events.len(), "taken without spare room");
        assert!(events.iter().map(Event::size).sum::<usize>() <= charged);
    }

    #[tokio::test]
    async fn recording_stops_at_the_budget_and_says_why() {
        let live = Tape::record(Arc::new(Seeds::new()), Instant::now(), 100);
        let _: Vec<u8> = live.call("t.big", &(), async { vec![0; 1000] }).await;
        assert!(live.take().unwrap_err().contains("size limit"));
    }
}
