# attack: an HTTP tool whose server reflects the request headers (two host secrets) in a >= 400 error body
# held: a ToolError whose text has the secrets scrubbed (the runner checks every output for any 12 characters of them)
# expect: error ToolCallError
tools.api.fail()
