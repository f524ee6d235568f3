# attack: start a thread (to outlive the run's timeout, or race the host)
# held: threads cannot start (RuntimeError)
# expect: error RuntimeError
import threading
t = threading.Thread(target=lambda: None)
t.start()
