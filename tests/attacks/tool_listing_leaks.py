# attack: read host details from the tools' own descriptions: tools.list(), tools.search(), every docstring and signature (headers, base URLs, commands)
# held: the listings name no secret and no host path
# expect: ok
import json
docs = [repr(tools), json.dumps(tools.list()), json.dumps(tools.search("http secret header token env"))]
for name in dir(tools):
    tool = getattr(tools, name)
    docs.append(tool.__doc__ or "")
    for recipe in tool.list():
        docs.append(getattr(tool, recipe["name"]).__doc__ or "")
"\n".join(docs)
