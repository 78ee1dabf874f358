from envgym.cli import main

main()
