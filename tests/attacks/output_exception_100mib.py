# attack: a 100 MiB exception message, which used to become `InternalError: the runner failed: MemoryError()` and lose the agent's exception
# held: the agent's own ValueError comes back, truncated, in a result under the cap
# expect: error ValueError
# max-result-bytes: 400000
raise ValueError("h" * (100 << 20))
