# attack: call the cheapest failing host operation far more often than the tool-call budget allows
# held: a ToolError once the per-run budget is used up
# expect: ok
# value: true
budget_hit = False
for i in range(1200):
    try:
        tools.echo(unknown_arg=i)
    except ToolError as e:
        if "limit" in str(e):
            budget_hit = True
            break
budget_hit
