"""The contracts between organisations: the only code two nodes share.

Each module names one organisation's interface as seen by the others — a
``typing.Protocol`` for its calls and frozen dataclasses for what the calls carry.
A node implements its own contract (its service, in-process) and reaches another
node only through that node's contract: in one process the service itself, between
processes an HTTP client (``myna.transport``) that implements the same Protocol.

Nothing here touches a database or the web, and nothing here imports an
organisation's package: a contract may use the shared kernel (``myna.numbers``,
``myna.errors``, ``myna.clock``, ``myna.events``, ``myna.linkage``) only.
"""
