# attack: signals: alarm, setitimer, a handler for SIGTERM, and raising SIGTERM and SIGKILL at itself
# held: the host process is never signalled; the guest alone stops (an interpreter crash, or an error) and the next run works
# expect: error InterpreterCrash|OSError|SystemExit|KeyboardInterrupt
# output-lacks: wasm backtrace
import signal
for op in (lambda: signal.alarm(1), lambda: signal.setitimer(signal.ITIMER_REAL, 0.1),
           lambda: signal.signal(signal.SIGTERM, lambda *a: None)):
    try:
        op()
    except (OSError, AttributeError, ValueError, RuntimeError):
        pass
signal.raise_signal(signal.SIGTERM)
signal.raise_signal(signal.SIGKILL)
