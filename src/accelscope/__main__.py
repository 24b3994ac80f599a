from accelscope.cli.app import main

main()
