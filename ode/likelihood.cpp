// placeholder: written in a later commit
