// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// Pays ETH on with Solidity's `transfer` (a 2300-gas stipend), like many older
/// exchange and payout contracts do.
contract Forwarder {
    function forward(address payable to) external payable {
        to.transfer(msg.value);
    }
}
