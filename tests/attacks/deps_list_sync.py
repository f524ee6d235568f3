# attack: deps.list and deps.sync from the guest (sync runs pip on the host for every recorded requirement)
# held: both answer without host paths; nothing outside the storage changes
# expect: ok or error DepsError
[deps.list(), deps.sync()]
