package main

func runLoadtest(args []string) error { return nil }
