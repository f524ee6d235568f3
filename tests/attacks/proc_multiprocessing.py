# attack: start a process with multiprocessing
# held: an error, no process
# expect: error OSError|PermissionError|ModuleNotFoundError|ImportError|RuntimeError|NotImplementedError|AttributeError
import multiprocessing
p = multiprocessing.Process(target=print, args=("child",))
p.start()
p.join()
