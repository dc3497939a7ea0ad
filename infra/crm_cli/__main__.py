"""``python -m crm_cli`` is the same as the ``crm`` script."""

from crm_cli.app import main

if __name__ == "__main__":
    main()
