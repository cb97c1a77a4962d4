"""Errors the command line turns into one-line messages (exit status 1), never tracebacks."""


class UserError(Exception):
    """A problem the admin can fix: bad configuration, bad contacts file, refused login.

    The message is complete and printable as is; it may span several lines, one per problem.
    """
