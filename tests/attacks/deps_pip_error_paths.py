# attack: make pip fail on the host (a package that does not exist, with no index) and read its error for host paths
# held: a DepsError naming the package, with no host path (the runner checks every output)
# expect: error DepsError|ValueError
deps.add("codemode-no-such-package-zz")
