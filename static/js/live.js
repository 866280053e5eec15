// live: issue 13 work in progress.
