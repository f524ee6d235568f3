# attack: a tool whose output the agent makes huge (`seq 100000000`: ~900 MB)
# held: a ToolError at the tool output cap; the host stops reading
# expect: error ToolCallError
# host-memory-max-mib: 900
tools.seq(last=100_000_000)
