# attack: a busy loop that catches every exception, including the ones a stop might raise, and restarts itself
# held: the stop is not an exception the guest can catch: timeout or fuel
# expect: limit timeout|fuel
while True:
    try:
        while True:
            pass
    except BaseException:
        pass
