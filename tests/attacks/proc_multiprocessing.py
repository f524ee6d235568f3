# attack: start a process with multiprocessing
# held: an error, no process
# expect: error AttributeError|OSError|RuntimeError|ImportError
import multiprocessing
p = multiprocessing.Process(target=print, args=("child",))
p.start()
p.join()
