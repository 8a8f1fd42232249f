"""Bringing videos in (§3.2): fetching files with yt-dlp, where they are kept, and how a blocked source is backed off."""
