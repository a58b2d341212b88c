from emulators.kubecost.api import main

main()
