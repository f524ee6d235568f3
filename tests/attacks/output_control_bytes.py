# attack: stdout full of control characters, invalid UTF-8 bytes and lone surrogates (each escapes to several bytes in JSON)
# held: the run completes; the result is valid JSON on every surface and bounded
# expect: ok or limit output
# max-result-bytes: 2500000
import sys, os
print("".join(chr(i) for i in range(32)) * 1000)
os.write(1, bytes(range(128, 256)) * 100)
sys.stdout.write("\ud800\udfff lone\n")
"\x00\x1b[2J\ud83d"
