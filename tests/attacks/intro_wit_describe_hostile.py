# attack: a skill whose description, annotation and default try to break out of the describe() stub (triple quotes, newlines, NUL, a line separator, 10,000 characters (under the 16 KiB description cap), code as annotation and default), read back through the raw describe imports
# held: both stubs parse as Python, the injected statements are not lines of code, the skill's stub line stays short, its annotation stays a string constant and its default is `...` (no code copied in)
# expect: ok
# value: [true, true, true, true]
import ast
from wit_world.imports import skills as s, tools as t
evil = '"""\nimport os\nos.system("id")\n"""\x00\u2028' + "x" * 10_000
source = "def run(a: \"__import__('os').getcwd()\" = __import__('os').getcwd(), b: int = 1):\n    return 1\n"
skills.create("evil_describe_zz", source, description=evil)
stub = s.describe_skills()
out = []
for text in (stub, t.describe_tools()):
    try:
        ast.parse(text)
        out.append(True)
    except SyntaxError:
        out.append(False)
out.append(not any(line.lstrip().startswith(("import os", "os.system")) for line in stub.splitlines()))
mine = [line for line in stub.splitlines() if "evil_describe_zz" in line]
func = [n for n in ast.walk(ast.parse(stub)) if isinstance(n, ast.FunctionDef) and n.name == "evil_describe_zz"]
a = func[0].args.kwonlyargs[0] if func else None
out.append(
    len(mine) == 1 and len(mine[0]) < 400 and a is not None
    and isinstance(a.annotation, ast.Constant) and isinstance(a.annotation.value, str)
    and isinstance(func[0].args.kw_defaults[0], ast.Constant) and func[0].args.kw_defaults[0].value is Ellipsis
)
out
