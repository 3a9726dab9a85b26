"""What each command prints, one module per group of commands (`churnhealth.cli.data`,
`model`, `scoring`, `team`), with the shared formatters in `common`: tables and sentences on
stdout; progress bars go to stderr."""
