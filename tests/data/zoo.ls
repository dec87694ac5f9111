       7 brw-rw----   1     0     0   259, 70000 1970-01-01 00:00:00.000000000 blk
      11 -rw-r--r--   1     0     0            0 1970-01-01 00:00:00.000000000 caf\xe9\xff
      12 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d
      13 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d/d
      14 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d/d/d
      15 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d/d/d/d
      16 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d/d/d/d/d
      17 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d/d/d/d/d/d
      18 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d/d/d/d/d/d/d
      19 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d/d/d/d/d/d/d/d
      20 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d/d/d/d/d/d/d/d/d
      21 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d/d/d/d/d/d/d/d/d/d
      22 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d/d/d/d/d/d/d/d/d/d/d
      23 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d/d/d/d/d/d/d/d/d/d/d/d
      24 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d/d/d/d/d/d/d/d/d/d/d/d/d
      25 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d/d/d/d/d/d/d/d/d/d/d/d/d/d
      26 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d/d/d/d/d/d/d/d/d/d/d/d/d/d/d
      27 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d
      28 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d
      29 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d
      30 drwx------   3     0     0            0 1970-01-01 00:00:00.000000000 d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d
      31 drwx------   2     0     0            0 1970-01-01 00:00:00.000000000 d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d
       5 lrwxrwxrwx   1     0     0           17 1970-01-01 00:00:00.000000000 dangling -> ../does/not/exist
       4 -rw-r-Sr--   1  1000 100000            0 1969-12-31 23:59:55.999999999 empty
    xattr security.capability=636170
    xattr user.bin=00ff010080
       2 drwxrwxrwt   2     7     8            0 2023-11-14 22:13:20.000000000 etc
       3 -rwsr-xr-x   2  1000 100000   5368709120 1969-12-31 23:59:55.999999999 etc/big
    xattr security.capability=636170
    xattr user.bin=00ff010080
       8 prw-------   1     0     0            0 1970-01-01 00:00:00.000000000 fifo
       3 -rwsr-xr-x   2  1000 100000   5368709120 1969-12-31 23:59:55.999999999 hardlink
    xattr security.capability=636170
    xattr user.bin=00ff010080
      10 -rw-r--r--   1     0     0            0 1970-01-01 00:00:00.000000000 nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn
       6 crw-rw-rw-   1     0     0     1,     3 1970-01-01 00:00:00.000000000 null
       9 srw-------   1     0     0            0 1970-01-01 00:00:00.000000000 sock
