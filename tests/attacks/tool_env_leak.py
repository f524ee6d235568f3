# attack: a CLI tool that prints its environment (`env`): read the host's variables, tokens included
# held: the tool runs with a cleared environment; no host secret and no CODEMODE_ variable comes back
# expect: ok
# output-lacks: CODEMODE_ATTACK_SECRET
tools.env()
