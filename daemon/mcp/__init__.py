"""The MCP server (Model Context Protocol): an assistant asks the data questions within its grant.

`tools.py` declares the tools and resources over the API's state, `http.py` serves them
on the API at /mcp (streamable HTTP, the bearer token like any app), and `stdio.py` is
`selfdata mcp`: stdin and stdout relayed to /mcp, for desktop assistants that start a
command. The tools run the same query functions as the API, under the same scopes and
access log; the `mcp` SDK is imported only here.
"""

GRANT_KEY = "selfdata.grant"  # the ASGI scope key the tools read the request's grant from
