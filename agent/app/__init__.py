"""Application services below the turn loop: settings, users and sessions, audit trail, chat history."""
