# attack: artifacts of types that would be stored as something else (int, set, an object with __str__, a generator)
# held: TypeError for each, nothing stored
# expect: ok
# value: 4
n = 0
for data in (42, {1, 2}, object(), (i for i in range(3))):
    try:
        artifacts.save("typed", data)
    except TypeError:
        n += 1
n
