# attack: a 20 MiB exception message, which every surface used to return whole (40-60 MB results over a 1 MiB cap)
# held: the agent's own ValueError comes back, cut to the output cap with a marker, in a result under the cap
# expect: error ValueError
# max-result-bytes: 400000
raise ValueError("m" * (20 << 20))
