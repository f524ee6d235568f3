# attack: a 20 MB string as the cell's value (its repr and its JSON)
# held: the repr is cut at the cap; the result stays small
# expect: ok
# max-result-bytes: 600000
"v" * 20_000_000
