# attack: 20 MB of prints to stdout
# held: stdout is cut at its cap with a truncation notice; the result stays small
# expect: limit output
# max-result-bytes: 500000
for _ in range(20_000):
    print("p" * 999)
