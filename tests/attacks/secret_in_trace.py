# attack: read the secret-bearing error texts back from somewhere other than the exception: the run's own tool-call trace
# held: the trace's error texts are scrubbed too
# expect: error ToolCallError
tools.api.fail(pad=3)
