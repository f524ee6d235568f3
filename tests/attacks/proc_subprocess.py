# attack: run a host command with subprocess
# held: process creation is unavailable (an error, no command runs)
# expect: error OSError|PermissionError
import subprocess
subprocess.run(["id"], capture_output=True)
