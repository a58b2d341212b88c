from emulators.flexera.api import main

main()
