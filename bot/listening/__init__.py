"""Listening: received mail from the IMAP folder to stored topics, in the order the data moves.

    fetch.py      store the raw bytes first (dedupe), commit, then move on the server
    process.py    each stored mail in one unit of work: parse -> match -> act
    match.py      pure: who sent it, which request it answers, or why it is set aside
    automatic.py  bounces mark addresses; out-of-office replies pause mail until a date
    topics.py     topics and their attachments
    poller.py     the loop: connect, fetch, wait with IDLE, reconnect with backoff
"""
