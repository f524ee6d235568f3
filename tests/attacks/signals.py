# attack: signals: alarm, setitimer, a handler for SIGTERM, and raising SIGTERM and SIGKILL at itself
# held: the host process is never signalled; the run ends with an error or a crash report and the next run works
# expect: any
import signal
for op in (lambda: signal.alarm(1), lambda: signal.setitimer(signal.ITIMER_REAL, 0.1),
           lambda: signal.signal(signal.SIGTERM, lambda *a: None)):
    try:
        op()
    except (OSError, AttributeError, ValueError, RuntimeError):
        pass
signal.raise_signal(signal.SIGTERM)
signal.raise_signal(signal.SIGKILL)
