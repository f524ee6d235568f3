# attack: set a variable in the guest's os.environ and hope the host passes it to a tool process (e.g. LD_PRELOAD)
# held: the guest's environment never reaches a host process
# expect: ok
# output-lacks: CODEMODE_GUEST_SET
# output-lacks: LD_PRELOAD
import os
os.environ["CODEMODE_GUEST_SET"] = "1"
os.environ["LD_PRELOAD"] = "/nonexistent.so"
tools.env()
