# attack: the same reflection in a 200 JSON body: a secret with `"` or `\` is escaped in serialized JSON, so a scrubber matching serialized JSON misses it
# held: every string in the parsed body is scrubbed; neither secret comes back
# expect: ok
tools.api.echo()
