"""Every command as a named operation with a typed parameter class.

`registry.py` declares what an operation is and decodes parameters; each module beside it
declares the operations of one area; `dispatch.py` is the table the CLI, the admin socket
and the dashboard all run through.
"""
