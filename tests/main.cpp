// tests/main.cpp: doctest's main, shared by every suite executable.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
