# attack: 300 failing tool calls, each with a 64 KiB argument name echoed in its error, to make the run's tool-call trace huge
# held: the result stays within the output caps (the trace's error texts are capped too)
# expect: ok
# max-result-bytes: 2000000
name = "n" * (64 << 10)
for _ in range(300):
    try:
        tools.echo(**{name: 1})
    except ToolError:
        pass
"done"
