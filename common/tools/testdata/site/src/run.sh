#!/bin/sh
echo a script the site copies
