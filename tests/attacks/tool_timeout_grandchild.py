# attack: a tool that starts a background grandchild and hangs past its timeout, leaving the grandchild running on the host
# held: a ToolError for the timeout and no process left behind (the runner looks for any process in its directory)
# expect: error ToolCallError
tools.grandchild()
