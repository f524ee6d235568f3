# attack: move the 500-character error-excerpt cut point through the secrets with filler, so a scrubber that runs after truncation misses the cut secret
# held: scrubbed before truncation: not even a prefix of either secret comes back
# expect: ok
# output-lacks: quoted=q
out = []
for pad in list(range(440, 500, 3)) + [493, 494, 495]:
    try:
        tools.api.fail(pad=pad)
    except ToolError as e:
        out.append(str(e)[-120:])
print("\n".join(out))
len(out)
