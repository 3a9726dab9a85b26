from churnhealth.cli import main

main()
