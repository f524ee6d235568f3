# attack: reach the tool left out of --allow-tools through the guest's namespace: attribute, getattr, search, describe, and by replacing the wrapper's tool cache
# held: the wrappers do not see it, and a forged cache entry still ends in the host's refusal
# expect: ok
# value: [true, true, true, true]
# output-lacks: A tool no session may reach
out = []
try:
    tools.forbidden.say(text="ran")
    out.append(False)
except AttributeError as e:
    out.append("forbidden" in str(e))
out.append(all(x["name"] != "forbidden" for x in tools.search("forbidden tool no session may reach")))
out.append("forbidden" not in tools.describe())
# Forge the wrapper's cache with an allowed tool's info (its `echo` recipe) renamed: the host decides.
tools._tools()
info = tools._known["echo"]
info.name = "forbidden"
tools._known["forbidden"] = info
try:
    tools.forbidden.echo(text="ran")
    out.append(False)
except Exception as e:
    out.append("no tool named" in str(e))
finally:
    tools._known = None
out
