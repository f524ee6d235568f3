# attack: sleep for a million seconds (no CPU used, so fuel does not stop it)
# held: the wall-clock timeout stops it
# expect: limit timeout
import time
time.sleep(10 ** 6)
