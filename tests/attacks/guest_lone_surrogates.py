# attack: lone surrogates (text that cannot be UTF-8) in the plain namespace APIs: a skill source, a skill name, an artifact name, a deps spec
# held: each is a clear Python error (UnicodeEncodeError or ValueError) and the interpreter keeps its state; not a crash of the guest's bindings
# expect: error UnicodeEncodeError|ValueError|SkillError
skills.create("surrogate_zz", "def run():\n    return '\ud800'\n")
# --- cell ---
# expect: error UnicodeEncodeError|ValueError|SkillError
skills.get("\udc80")
# --- cell ---
# expect: error UnicodeEncodeError|ValueError|ArtifactError
artifacts.save("surrogate\ud800", "x")
# --- cell ---
# expect: error UnicodeEncodeError|ValueError|DepsError
deps.add("six\udfff")
