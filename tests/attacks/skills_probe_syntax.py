# attack: learn about a host file's contents (its syntax) through the error text of skills.invoke on a traversal to a non-Python file
# held: refused as an invalid name, no parse error of the host file
# expect: error ValueError|SkillError
# output-lacks: SyntaxError
# output-lacks: line 1
skills.invoke("../../canary/secret")
